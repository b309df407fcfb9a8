"""The acne model: its definition, serving through ONNX Runtime, training and evaluation."""
