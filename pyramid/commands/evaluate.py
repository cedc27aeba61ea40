"""`pyramid_evaluate [--image-root DIR] data.json model.json`: how well a written
final_model.json predicts labelled images (see `pyramid.evaluation`)."""

import argparse
import json
import sys

from pyramid.errors import InputError

EXIT_INPUT_ERROR = 2


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="pyramid_evaluate",
        description="Score a final_model.json on labelled images: accuracy, AUC and likelihood "
        "(classification), r-squared and errors (regression), COCO mAP (detection).",
    )
    parser.add_argument("data", help="a JSON list of points ({file, label} or {file, boxes}), or an "
                        "object with image_root and test_data (or training_data)")
    parser.add_argument("model", help="the final_model.json to score")
    parser.add_argument("--image-root", help="the directory the points' files are in (default: the "
                        "data's image_root, else the data file's directory)")
    parser.add_argument("--debug", action="store_true", help="show a traceback for input errors")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        from pyramid.evaluation import evaluate, load_points

        points, image_root = load_points(args.data, args.image_root)
        metrics = evaluate(args.model, points, image_root)
    except InputError as error:
        if args.debug:
            raise
        print("pyramid_evaluate: %s" % error, file=sys.stderr, flush=True)
        return EXIT_INPUT_ERROR
    for name, value in metrics.items():
        print("%s %.6f" % (name, value))
    print(json.dumps({"images": len(points), **metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
