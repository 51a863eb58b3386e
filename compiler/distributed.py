"""Scale-out with torch.distributed: the names the runtime imports, from the parallelism
package `alexspec.compiler.parallel` (which owns devices, the process group, the mesh, DDP and
the hybrid step). Run under torchrun:

    torchrun --standalone --nproc-per-node 2 -m alexspec.cli run specs/alexnet.cfg ...
"""

from alexspec.compiler.parallel import (DistContext, ParallelContext, agree, any_asked, check_batch,
                                        gather_objects, gather_training_state, local_sgd_state,
                                        model_for, setup, shard, teardown, wrap)

__all__ = ["DistContext", "ParallelContext", "agree", "any_asked", "check_batch", "gather_objects",
           "gather_training_state", "local_sgd_state", "model_for", "setup", "shard", "teardown",
           "wrap"]
