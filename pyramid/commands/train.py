"""`pyramid_train [--visualize[=N]] [--bigmlize] [--debug] config.json`: train image networks."""

import argparse
import sys

from pyramid.config import load_train_config
from pyramid.errors import InputError

EXIT_INPUT_ERROR = 2


def positive_seconds(text):
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError("expected a number of seconds > 0, got %r" % text)
    return seconds


def positive_count(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("expected a whole number of batches >= 1, got %r" % text)
    return int(text)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="pyramid_train",
        description="Train image networks from a JSON config; writes final_model.json.",
    )
    parser.add_argument("config", help="path to the JSON training config")
    parser.add_argument(
        "--visualize",
        type=positive_count,
        metavar="N",
        help="--visualize[=N]: write N contact sheets of augmented training batches "
        "(default 1) to output_directory/visualize and train nothing",
    )
    parser.add_argument(
        "--bigmlize",
        action="store_true",
        help="write image_root/metadata.json (the file list BigML's importer reads) and train nothing",
    )
    parser.add_argument(
        "--max-total-time",
        type=positive_seconds,
        metavar="SECONDS",
        help="use this max_total_time instead of the config's (e.g. for a quick trial run)",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback for config and image errors"
    )
    # A bare --visualize means one sheet (argparse cannot tell it from a value otherwise).
    argv = ["--visualize=1" if argument == "--visualize" else argument for argument in argv]
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    print("Pyramid is parsing training file...", flush=True)

    try:
        config = load_train_config(args.config)
        if args.max_total_time is not None:
            config = config.model_copy(update={"max_total_time": args.max_total_time})
        # Imported here so that a config error is reported before TensorFlow loads.
        if args.bigmlize:
            from pyramid.data.bigml_metadata import write_metadata

            points = [point.model_dump(exclude_none=True) for point in config.training_data]
            write_metadata(points, config.image_root)
        elif args.visualize:
            from pyramid.train.visualize import write_contact_sheets

            write_contact_sheets(config, args.visualize)
        else:
            from pyramid.train.run import train_candidates

            train_candidates(config)
    except InputError as error:
        if args.debug:
            raise
        print("pyramid_train: %s" % error, file=sys.stderr, flush=True)
        return EXIT_INPUT_ERROR

    return 0


if __name__ == "__main__":
    sys.exit(main())
