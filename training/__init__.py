"""Training: synthetic and real data, LightGBM with a business-cost threshold, ONNX bundle, MLflow."""
