"""Settings shared by pyramid's commands and the worker's job documents.

- `types`: what each setting accepts (type, range, the "expected ..." text of its error), one
  definition per key, used by `pyramid.config` (pyramid_train) and `pyramid.worker.settings`
  (the worker's job documents);
- `messages`: pydantic's errors translated into the one-line messages users see.

No TensorFlow here: settings are checked before TensorFlow loads.
"""
