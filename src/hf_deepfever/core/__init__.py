"""The leaf layer every other part of hf_deepfever imports: shared vocabulary, atomic file writes, the
one image opener, the results file of a model folder, and the one model + processor loader.

Nothing here imports a sibling package of hf_deepfever except ``models/`` (which imports nothing of ours).
"""
