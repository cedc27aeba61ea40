"""The foreground and background image files, and their labels (no TensorFlow here).

A foreground's label is the name of the sub-directory it is in, or "" for an image directly
in the root; backgrounds are the images directly in their root only (as the README says;
the earlier implementation also used its sub-directories). Files are sorted, so that a seed
picks the same images on every machine.
"""

import os
from typing import NamedTuple

EXTENSIONS = ("png", "jpg", "jpeg", "gif", "bmp")


class Images(NamedTuple):
    paths: list  # absolute, sorted by (label, name)
    labels: list  # index into label_names, one per path
    label_names: list  # sorted

    def per_label(self):
        """[(first index, count)] of each label's run of paths (paths are sorted by label)."""
        runs = []
        for index in range(len(self.label_names)):
            members = [i for i, label in enumerate(self.labels) if label == index]
            runs.append((members[0], len(members)))
        return runs


def is_image(name):
    return name.rsplit(".", 1)[-1].lower() in EXTENSIONS and not name.startswith(".")


def list_images(root, subdirectories):
    found = []  # (label, path)
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isfile(path) and is_image(name):
            found.append(("", path))
        elif subdirectories and os.path.isdir(path) and not name.startswith("."):
            for inner in sorted(os.listdir(path)):
                if is_image(inner) and os.path.isfile(os.path.join(path, inner)):
                    found.append((name, os.path.join(path, inner)))
    found.sort()
    label_names = sorted({label for label, _ in found})
    index = {label: number for number, label in enumerate(label_names)}
    return Images([path for _, path in found], [index[label] for label, _ in found], label_names)
