"""Evaluating a saved network: linear probes and k-NN on frozen features, and feature files of any layer."""
