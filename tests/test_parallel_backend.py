"""The process group's backend: the step's small collectives (`agree`, `any_asked`, gathered
objects) reduce CPU tensors, which nccl refuses, so a GPU job's group must carry gloo for the CPU
beside nccl for the CUDA tensors (no GPU here: the backend string is what is checked)."""

from alexspec.compiler.parallel import group


def test_a_gpu_job_reduces_cpu_tensors_with_gloo_and_cuda_tensors_with_nccl():
    per_device = dict(part.split(":") for part in group.process_group_backend("cuda").split(","))
    assert per_device == {"cpu": "gloo", "cuda": "nccl"}
    assert group.process_group_backend("cpu") == "gloo"

