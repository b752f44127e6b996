"""The leaf layer every other part of hf_deepfever imports: shared vocabulary, atomic file writes, the
one image opener, the results file of a model folder, the one model + processor loader, and the face front end
(detect, align, crop, run the model) that extraction, search, the app and video share.

Nothing here imports a sibling package of hf_deepfever except ``models/`` (which imports nothing of ours).
"""
