"""Model families of hf_deepfever, one folder each, in the layout of transformers' ``models/<name>/``.

Each folder stands alone (relative imports only) because ``save_pretrained`` copies its files next to the
weights as remote code.
"""
