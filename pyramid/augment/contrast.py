"""contrast: move pixels away from (c > 0) or towards their image's per-channel mean m:
m + (v - m) (1 + c), c from -n to n."""

from pyramid.augment.base import ColourStep


class Contrast(ColourStep):
    needs_mean = True

    def draw(self, draws, height, width):
        return {"contrast": draws.uniform(self.name, -self.n, self.n)}

    def affine(self, parameters, mean):
        contrast = parameters["contrast"][:, None, None, None]
        return 1 + contrast, -contrast * mean


AUGMENTATION = Contrast
