"""The shape AlexNet, ZFNet and VGG share: ``features`` -> ``avgpool`` -> flatten -> ``classifier``."""
from minicnn import nn


class FeaturesClassifier(nn.Module):
    """features -> avgpool -> flatten -> classifier, forward and backward (torchvision's AlexNet/VGG forward).

    Subclasses set ``features``, ``avgpool`` and ``classifier`` (torchvision's three children and keys); the
    flatten step is a reshape, undone in backward.
    """

    def forward(self, x):
        x = self.avgpool(self.features(x))
        self._save(shape=x.shape)
        return self.classifier(x.reshape(x.shape[0], -1))

    def backward(self, grad_out, input_grad=True):
        """Backpropagate through the classifier, the pooling and the features; ``input_grad`` goes to the first
        convolution (False: it skips dL/dx and None is returned)."""
        shape = self._saved("shape")
        grad = self.classifier.backward(grad_out).reshape(shape)
        return self.features.backward(self.avgpool.backward(grad), input_grad=input_grad)
