"""The job types the backend sends, each to the module that runs it.

`JOB_TYPES[job_type](settings, document, report)` runs a job: `settings` is the validated
document (`pyramid.worker.settings`), `document` the job document as given (stored as
`training_options`), `report` its progress lines (`pyramid.worker.progress`). It returns the
job's result dict or raises; `pyramid.commands.worker` adds `job_time` and answers errors.

Adding a job type is writing its module with a `run` function and adding one line here (and
its required keys to `pyramid.worker.settings.REQUIRED`).
"""

from pyramid.worker import dataset_caching, dense_training, finalize_output, image_training


JOB_TYPES = {
    "image_training": image_training.run,
    "dataset_caching": dataset_caching.run,
    "standard_training": dense_training.run_standard,
    "search_submodel": dense_training.run_search,
    "finalize_output": finalize_output.run,
}
