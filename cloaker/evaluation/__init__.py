"""Measuring a cloak: visibility metrics, the transforms social sites apply, verification
against clean photos with every model, and the evaluation loop (``evaluate``) that the
``cloaker eval`` command and research scripts share.

Modules: ``metrics`` (SSIM, PSNR, embeddings, match decisions), ``transforms`` (JPEG
re-encode and resize, with Pillow's real codec), ``harness`` (the loop over photos and
modes), ``summary`` (records and per-mode figures, JSON), ``report`` (tables and the
BENCHMARKS.md section), ``timing`` (what ``cloaker bench`` measures).
Importing this package is light; torch is imported by the modules that need it.
"""
