"""The job types the backend sends, each to its handler: `JOB_TYPES[job_type](document)`
returns the job's result dict or raises.

The handlers of this release only say that the job type is not supported yet; the job types
arrive with the worker issues (image_training and finalize_output first, then the tabular
ones).
"""

from pyramid.errors import InputError


def not_supported_yet(job_type):
    def handler(document):
        raise InputError("job type %s is not supported yet" % job_type)

    return handler


JOB_TYPES = {
    name: not_supported_yet(name)
    for name in ("image_training", "dataset_caching", "standard_training", "search_submodel", "finalize_output")
}
