"""`pyramid_generate [--visualize[=N]] [--replace] [--bigmlize] [--debug] config.json`:
synthetic classification and detection data sets (see pyramid.generate)."""

import argparse
import sys

from pyramid.commands.train import EXIT_INPUT_ERROR, positive_count
from pyramid.errors import InputError
from pyramid.generate.settings import load_generate_config


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="pyramid_generate",
        description="Generate a synthetic image data set and a pyramid_train config for it.",
    )
    parser.add_argument("config", help="path to the JSON generation config")
    parser.add_argument(
        "--visualize", type=positive_count, metavar="N",
        help="--visualize[=N]: write N contact sheets of generated examples (boxes drawn; default 1) "
        "to output_directory/visualize and write no data set",
    )
    parser.add_argument(
        "--replace", action="store_true",
        help="replace the data set (train/ and config.json) already in output_directory",
    )
    parser.add_argument(
        "--bigmlize", action="store_true",
        help="also write train/metadata.json, the file list BigML's importer reads",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show a traceback for config and image errors")
    argv = ["--visualize=1" if argument == "--visualize" else argument for argument in argv]
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    print("Pyramid is parsing generation file...", flush=True)
    try:
        generation = load_generate_config(args.config, replace=args.replace or bool(args.visualize))
        # Imported here so that a config error is reported before TensorFlow loads.
        if args.visualize:
            from pyramid.generate.sheets import write_contact_sheets

            write_contact_sheets(generation, args.visualize)
        else:
            from pyramid.generate.output import generate

            path = generate(generation, replace=args.replace, progress=not args.no_progress)
            if args.bigmlize:
                from pyramid.data.bigml_metadata import write_metadata_for_config

                write_metadata_for_config(path)
    except InputError as error:
        if args.debug:
            raise
        print("pyramid_generate: %s" % error, file=sys.stderr, flush=True)
        return EXIT_INPUT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
