"""Run the generation and write the data set: images in parallel, config.json last.

Images are composed, PNG-encoded and written by a tf.data map (graph ops only), in parallel,
into a temporary directory beside `train/`, which is renamed into place when all are written;
`config.json` is then written to a temporary name and renamed. An interrupted run therefore
leaves either a complete config.json (with every image it names) or none. With `replace`, an
earlier set's config.json is removed first and its images only after the new ones are in place.
"""

import json
import os
import shutil
import time

from pyramid.config import validate_train_config
from pyramid.errors import ConfigError
from pyramid.generate import banks
from pyramid.generate.compose import Composer
from pyramid.generate.settings import CONFIG_NAME, DETECTION, IMAGE_DIRECTORY
from pyramid.importers import tf

FILE_NAME = "%08d.png"
DEFAULT_BATCH = 16  # examples per step of the Python loop (the progress bar's granularity)
# zlib level 1: at 416x416 about 8 times faster than the default level (6), the files about 20%
# larger (benchmarks/generate.py; encoding was most of the time at the default).
PNG_COMPRESSION = 1
PARTIAL_PREFIX = ".%s.partial-" % IMAGE_DIRECTORY  # images being written
OLD_PREFIX = ".%s.old-" % IMAGE_DIRECTORY  # replaced images being removed


def composer(generation, log=print, compile=True):
    config = generation.config
    side = banks.tile_side(config)
    count_bg = len(generation.backgrounds.paths) if generation.backgrounds else 0
    megabytes = banks.memory_bytes(len(generation.foregrounds.paths), side, count_bg, config.image_shape_hw) / 2**20
    log("Reading %d foreground and %d background images (%.0f MB decoded)"
        % (len(generation.foregrounds.paths), count_bg, megabytes))
    foregrounds = banks.load_foregrounds(generation.foregrounds, side)
    backgrounds = banks.load_backgrounds(generation.backgrounds, config.image_shape_hw) if count_bg else None
    return Composer(generation, foregrounds, backgrounds, compile)


def examples(composer_, count, batch_size=DEFAULT_BATCH, parallelism=None, write_under=None):
    """Batches of examples 0..count-1 (dicts of numpy arrays). With `write_under`, each image
    is also written as <write_under>/<directory>/NNNNNNNN.png, and the batches hold no pixels."""
    parallelism = tf.data.AUTOTUNE if parallelism is None else parallelism

    @tf.autograph.experimental.do_not_convert
    def make(index):
        example = composer_.example(index)
        if write_under is None:
            return example
        folder = tf.where(example["directory"] == "", "", example["directory"] + "/")
        path = tf.strings.join([write_under + "/", folder, tf.strings.as_string(index, width=8, fill="0"), ".png"])
        written = tf.io.write_file(path, tf.io.encode_png(example.pop("image"), compression=PNG_COMPRESSION))
        with tf.control_dependencies([written]):
            example["index"] = tf.identity(index)
        return example

    dataset = tf.data.Dataset.range(count).map(make, num_parallel_calls=parallelism, deterministic=True)
    return dataset.batch(batch_size).prefetch(1).as_numpy_iterator()


def training_point(generation, index, example):
    """The training_data entry of one example (numpy values)."""
    directory = example["directory"].decode("utf-8")
    name = (directory + "/" if directory else "") + FILE_NAME % index
    classes = generation.classes
    if generation.config.objective_type != DETECTION:
        return {"file": name, "label": classes[int(example["label"])]}
    boxes = [[int(round(value)) for value in box] + [classes[int(number)]]
             for box, number, kept in zip(example["boxes"], example["box_class"], example["kept"]) if kept]
    return {"file": name, "boxes": boxes}


def unbatch(batch):
    size = len(next(iter(batch.values())))
    return [{key: value[row] for key, value in batch.items()} for row in range(size)]


def generate(generation, replace=False, batch_size=DEFAULT_BATCH, parallelism=None, progress=True, log=print):
    """Write the data set and its config.json; returns the path of config.json."""
    from tqdm import tqdm

    config = generation.config
    directory = config.output_directory
    os.makedirs(directory, exist_ok=True)
    # Images of an interrupted run (never named by any config.json) go first.
    for name in os.listdir(directory):
        if name.startswith(PARTIAL_PREFIX) or name.startswith(OLD_PREFIX):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)
    partial = os.path.join(directory, "%s%d" % (PARTIAL_PREFIX, os.getpid()))
    for label in generation.classes + ([config.background_label] if config.background_label else []):
        os.makedirs(os.path.join(partial, label), exist_ok=True)

    maker = composer(generation, log)
    start = time.time()
    points = []
    count = config.generated_dataset_size
    with tqdm(total=count, unit="img", disable=not progress, desc="Generating") as bar:
        for batch in examples(maker, count, batch_size, parallelism, write_under=partial):
            for example in unbatch(batch):
                points.append(training_point(generation, int(example["index"]), example))
            bar.update(len(batch["index"]))
    seconds = time.time() - start

    written = generation.training_config(points)
    put_in_place(directory, partial, replace)
    try:
        validate_train_config(written, base_dir=directory)
    except ConfigError as error:
        raise ConfigError("the generated data set cannot be trained on: %s" % error) from None
    path = os.path.join(directory, CONFIG_NAME)
    write_json_atomically(path, written)
    log("Generated %d images in %.1f s (%.1f images/s); train with: pyramid_train %s"
        % (count, seconds, count / max(seconds, 1e-9), path))
    return path


def put_in_place(directory, partial, replace):
    images = os.path.join(directory, IMAGE_DIRECTORY)
    config_path = os.path.join(directory, CONFIG_NAME)
    if replace and os.path.exists(config_path):
        os.remove(config_path)  # from here on, no config names the old images
    old = None
    if os.path.exists(images):
        if not replace:
            raise ConfigError("output_directory: %s appeared while generating; pass --replace to replace it" % images)
        old = os.path.join(directory, "%s%d" % (OLD_PREFIX, os.getpid()))
        os.rename(images, old)
    os.rename(partial, images)
    if old is not None:
        shutil.rmtree(old)


def write_json_atomically(path, data):
    temporary = "%s.partial-%d" % (path, os.getpid())
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=4, sort_keys=True)
        stream.write("\n")
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)
