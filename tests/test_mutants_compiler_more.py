"""More tests that kill surviving mutants of compiler/ (issue 12; docs/testing.md): the transfer
log's per-direction sums, the plan's image layer, torchrun's device choice.
Each expected value is written out by hand from the spec, not recomputed by the code under test."""

from __future__ import annotations

import pytest
import torch

import alexspec
from alexspec.compiler import build, lower
from alexspec.compiler.transfer import TransferLog
from alexspec.pipeline import loads
from tests.test_mutants_compiler import SPEC, _model

TWOCOL = "tests/specs/compiler/twocol-small.cfg"


def test_the_transfer_log_sums_bytes_per_direction():
    """`TransferLog.bytes("fwd")` counts the forward moves only, `bytes("bwd")` the backward ones.
    twocol-small at 16x16, batch 2, float32: conv2 (both columns) reads the other column's 3x3x16
    pool1, fc3 the other column's 3x3x16 conv2, fc4 (gpu 0) gpu 1's 32 drop3 outputs:
    (2*144 + 2*144 + 32) floats * 2 images * 4 bytes = 4864 bytes forward, none backward yet."""
    model = build(alexspec.load(TWOCOL), devices="cpu", seed=0)
    model.eval()
    x = torch.randn(2, *model.input_shape)
    with TransferLog() as log:
        y = model(x)
        assert (log.count("fwd"), log.bytes("fwd"), log.count("bwd"), log.bytes("bwd")) == (5, 4864, 0, 0)
        y.sum().backward()
    assert (log.count("bwd"), log.bytes("bwd"), log.bytes("fwd"), log.bytes()) == (5, 4864, 4864, 2 * 4864)


def test_the_images_are_the_first_data_layer_with_dataidx_0():
    """Two data layers with dataIdx=0 (cuda-convnet feeds both the same images): the plan's
    image layer is the first in the spec, so `forward_layers` gives the images under its name."""
    net = loads("[net]\ntype=net\ninnerSize=8\n[data]\ntype=data\ndataIdx=0\n"
                "[data2]\ntype=data\ndataIdx=0\n[labels]\ntype=data\ndataIdx=1\n"
                "[fc]\ntype=fc\ninputs=data,data2\noutputs=4\n[probs]\ntype=softmax\ninputs=fc\n"
                "[logprob]\ntype=cost.logreg\ninputs=labels,probs\n", "s.cfg")
    assert lower(net).images == "data"
    model = build(net, devices="cpu", seed=0)
    x = torch.randn(2, 3, 8, 8)
    assert model.forward_layers(x, ["data"])["data"] is x


def test_a_hybrid_process_with_too_few_cuda_devices_takes_the_cpu(monkeypatch):
    """torchrun's process 2 of 3 of a hybrid run (`--gpu auto`) with one CUDA device: cuda:2 does
    not exist, so it runs on the CPU and says why."""
    from alexspec.compiler.parallel import devices

    monkeypatch.setattr(devices, "cuda_count", lambda: 1)
    devs, why = devices.process_devices("auto", 3, 2, 3, per_gpu=True)
    assert devs == [torch.device("cpu")]
    assert why == "devices: gpu2 -> cpu (process 2 of 3: 1 CUDA device(s) are too few, CPU)"


def test_rscale_draws_its_sizes_with_cuda_convnet2s_probabilities():
    """RandomScaleLayer (cuda-convnet2 layer.cu): an 8x8 input with maxScale=2 scales to one of
    n = 8 - int(8/2) + 1 = 5 sizes, size s+tgtSize with probability (s+1)^2 / (n(n+1)(2n+1)/6);
    `cumulative` is their running sum, 1/55, 5/55, 14/55, 30/55 and 55/55 = 1 (every draw picks
    a size)."""
    m = _model("[rs]\ntype=rscale\ninputs=data\nchannels=3\nmaxScale=2\ntgtSize=4\n"
               "[fc]\ntype=fc\ninputs=rs\noutputs=3\n")
    want = [1 / 55, 5 / 55, 14 / 55, 30 / 55, 55 / 55]
    assert m.layers["rs"].cumulative == pytest.approx(want, rel=1e-12)


def test_the_program_shows_eltsum_coefficients_and_local_filters():
    """`model.program()` (what `alexspec show --program` prints) names eltsum's coefficients and
    a local layer's channels -> filters (16 filters of 3x3 over 3 channels, padding 1)."""
    m = _model("[a]\ntype=local\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\npadding=1\n"
               "[b]\ntype=local\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\npadding=1\n"
               "[s]\ntype=eltsum\ninputs=a,b\ncoeffs=1,0.5\n[fc]\ntype=fc\ninputs=s\noutputs=3\n")
    text = m.program()
    assert "a = Local(3->16 3x3/1 pad 1 unshared)" in text
    assert "s = EltSum(coeffs 1,0.5)" in text


def test_blocked_cmrnorm_at_alexnets_size_pads_less_than_one_block(monkeypatch):
    """cmrnorm with blocked=1 over 96 maps in blocks of 5 (cuda-convnet's kFCNorm with blocked:
    map i is normalised by the squares of its block [5*(i//5), 5*(i//5)+5) within the 96 maps),
    against a float64 loop; the squares are padded by 4 maps to 100 (never by more than a block:
    a spy on F.pad refuses more, which also keeps a wrong block count from allocating)."""
    import torch.nn.functional as F

    pads = []
    real_pad = F.pad

    def spy(x, pad, *a, **k):
        pads.append(tuple(pad))
        assert max(pad) < 5, pad
        return real_pad(x, pad, *a, **k)

    from alexspec.compiler.layers.norm import CrossMapNorm
    from alexspec.errors import Span
    from alexspec.ir import CrossMapNormLayer

    mod = CrossMapNorm(CrossMapNormLayer(name="n", type="cmrnorm", inputs=("a",), span=Span("s.cfg", 1, 1),
                                         channels=96, size=5, scale=0.3, pow=0.75, minDiv=2.0, blocked=True))
    monkeypatch.setattr(F, "pad", spy)
    x = torch.randn(2, 96, 2, 2, dtype=torch.float64)
    y = mod(x)
    assert pads == [(0, 0, 0, 0, 0, 4)]
    want = torch.empty_like(x)
    for i in range(96):
        lo = 5 * (i // 5)
        s = sum(x[:, j] ** 2 for j in range(lo, min(lo + 5, 96)))
        want[:, i] = x[:, i] / (2.0 + 0.3 / 5 * s) ** 0.75
    assert torch.allclose(y, want, rtol=1e-12, atol=1e-14)


def test_torchrun_processes_of_a_data_parallel_run_take_their_own_cuda_devices(monkeypatch):
    """`--gpu auto` under torchrun, a 2-GPU net, 4 CUDA devices: process 1 of 2 drives cuda:2
    and cuda:3 (process 0 has 0 and 1)."""
    from alexspec.compiler.parallel import devices

    monkeypatch.setattr(devices, "cuda_count", lambda: 4)
    devs, why = devices.process_devices("auto", 2, 1, 2, per_gpu=False)
    assert devs == [torch.device("cuda:2"), torch.device("cuda:3")]
    assert why == "devices: gpu0 -> cuda:2, gpu1 -> cuda:3 (process 1 of 2: its own 2 CUDA device(s))"


def test_a_hybrid_process_given_one_device_uses_it(monkeypatch):
    """A hybrid run's process 1 of 2 with `--gpu cpu` (one device for all) runs on it."""
    from alexspec.compiler.parallel import devices

    monkeypatch.setattr(devices, "cuda_count", lambda: 0)
    devs, why = devices.process_devices("cpu", 1, 1, 2, per_gpu=True)
    assert devs == [torch.device("cpu")]
    assert why == "devices: gpu1 -> cpu (process 1 of 2: as given)"


def test_a_hybrid_process_leaves_an_sgd_state_that_does_not_fit_to_paper_sgd():
    """`local_sgd_state` of a hybrid process: a whole model's state with a velocity list of the
    wrong length, or none, is returned as it is (PaperSGD.load_state_dict then says what does not
    fit), not cut to this process's rules or failing with a KeyError/TypeError."""
    from alexspec.compiler.parallel import local_sgd_state
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = alexspec.load("tests/specs/compiler/hybrid-2gpu.cfg")
    model = build_hybrid(net, lower(net), 1, torch.device("cpu"), seed=0)
    full = model.full_rule_order()
    short = {"velocity": [torch.zeros(1)] * (len(full) - 1)}
    assert local_sgd_state(model, short) is short
    none = {"velocity": None}
    assert local_sgd_state(model, none) is none
    whole = {"velocity": [torch.full((1,), float(i)) for i in range(len(full))]}
    got = local_sgd_state(model, whole)
    mine = model.local_rule_order()
    assert got["velocity"] == [whole["velocity"][full.index(r)] for r in mine]
    assert got["names"] == [f"{n}.{k}" for n, k, _ in mine]


def test_hybrid_replicas_on_part_of_the_gpus_are_refused_at_the_layer_that_has_them():
    """conva replicated over all 4 logical GPUs, then a pool layer over two of them: the
    compiler refuses it, located at the pool's `gpu=` (any layer type, not only those whose
    name sorts before "data")."""
    from alexspec.errors import SpecError

    text = ("[*]\nepsW=0.01\nepsB=0.02\nmomW=0.9\nmomB=0.9\nwc=0\n[net]\ntype=net\ninnerSize=8\n"
            "[data]\ntype=data\ndataIdx=0\nchannels=3\n[labels]\ntype=data\ndataIdx=1\n"
            "[conva]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=3\ngpu=0,1,2,3\n"
            "[poola]\ntype=pool\ninputs=conva\nchannels=16\npool=max\nsizeX=3\nstride=1\ngpu=0,1\n"
            "[fc]\ntype=fc\ninputs=poola\noutputs=10\ngpu=0\n[probs]\ntype=softmax\ninputs=fc\n"
            "[logprob]\ntype=cost.logreg\ninputs=labels,probs\n")
    net = loads(text, "h.cfg")
    with pytest.raises(SpecError) as e:
        lower(net)
    (d,) = e.value.diagnostics
    assert (d.span.path, d.span.line, d.code) == ("h.cfg", 31, "unsupported")
    assert d.message == ("layer 'poola': 2 replicas in a hybrid spec over 4 logical GPUs; replicated "
                         "layers must run on all of them (gpu=0,1,2,3) yet")
    assert d.hint == "replicate over every logical GPU, or put the layer on one GPU"


def _dropout_model(kind: str):
    return _model(f"[d]\ntype={kind}\ninputs=data\nkeep=0.5\n[fc]\ntype=fc\ninputs=d\noutputs=3\n")


def test_dropout_scales_at_train_time_and_dropout2_at_test_time():
    """cuda-convnet2's two dropouts (docs/compiler.md): `dropout` gives x*m/keep in training and
    x at test time; `dropout2` gives x*m in training and x*keep at test time (m ~ Bernoulli)."""
    x = torch.rand(4, 3, 8, 8) + 1.0  # no zeros, so a kept value is told from a dropped one
    for kind, kept, test in (("dropout", 2.0, 1.0), ("dropout2", 1.0, 0.5)):
        d = _dropout_model(kind).layers["d"]
        d.train()
        y = d(x)
        ratio = y / x
        assert set(ratio.unique().tolist()) == {0.0, kept}, kind
        d.eval()
        assert torch.equal(d(x), x * test), kind


def test_the_drelu_neuron_is_x_minus_a_tanh_x_over_a():
    """drelu[a] = x - a tanh(x/a) (cuda-convnet2 neurons.cuh), against float64 math."""
    import math

    m = _model("[fc]\ntype=fc\ninputs=data\noutputs=3\nneuron=drelu[2]\n")
    act = m.layers["fc"].neuron.double()
    xs = [-3.0, -0.5, 0.0, 0.25, 4.0]
    got = act(torch.tensor(xs, dtype=torch.float64)).tolist()
    assert got == pytest.approx([v - 2 * math.tanh(v / 2) for v in xs], rel=1e-12, abs=1e-15)


def test_the_program_shows_an_sfc_layers_inputs_outputs_and_parts():
    """sfc over the 8x8x3 images (192 inputs) to 24 outputs in 4 parts: `192 -> 24 in 4 parts`
    (each part's weights are 6 x 48)."""
    m = _model("[fc]\ntype=sfc\ninputs=data\noutputs=24\nparts=4\n")
    assert "fc = SplitFullyConnected(192 -> 24 in 4 parts)" in m.program()


def test_the_program_shows_a_symmetric_padding_above_256_as_one_number():
    """A conv padded by 257 on every side (258x258 filters every 132 pixels over 8x8 images: the
    3 windows end exactly at the far padding) prints `pad 257`, like any symmetric padding (ints
    above 256 are distinct objects in CPython, so the comparison must be by value)."""
    m = _model("[c]\ntype=conv\ninputs=data\nchannels=3\nfilters=16\nfilterSize=258\nstride=132\n"
               "padding=257\n[fc]\ntype=fc\ninputs=c\noutputs=3\n")
    assert "c = Conv(3->16 258x258/132 pad 257)" in m.program()


def test_a_hybrid_processs_program_lists_its_stages_and_the_exchanges():
    """`HybridNet.program()` of rank 0 of the small hybrid spec: the replicated layers, then per
    stage this GPU's layers and the exchange before the next (tests/test_distributed_hybrid.py's
    layout: conv2 by shares; fcb from gpu1 and fca from gpu0; fc2b from gpu1; the logits fc3)."""
    from alexspec.compiler.parallel.hybrid import build_hybrid

    net = alexspec.load("tests/specs/compiler/hybrid-2gpu.cfg")
    text = build_hybrid(net, lower(net), 0, torch.device("cpu"), seed=0).program()
    assert text == ("HybridNet: logical GPU 0 of 2 on cpu; 4 exchange(s)\n"
                    "    replicated: conv1, pool1, conv2\n"
                    "    exchange 1: conv2(shares)\n"
                    "    stage 1: fca\n"
                    "    exchange 2: fcb(gpu1), fca(gpu0)\n"
                    "    stage 2: passa, fc2a\n"
                    "    exchange 3: fc2b(gpu1)\n"
                    "    stage 3: passc, fc3, probs\n"
                    "    exchange 4: fc3(gpu0)")


def test_a_cuda_device_gets_nccl_with_gloo_for_the_cpu_collectives():
    """The backend is chosen from a torch device's own `.type` (a string torch makes anew, not
    the literal "cuda"): CUDA devices get nccl plus gloo for the small CPU collectives."""
    from alexspec.compiler.parallel.group import process_group_backend

    assert process_group_backend(torch.device("cuda", 0).type) == "cpu:gloo,cuda:nccl"
    assert process_group_backend(torch.device("cpu").type) == "gloo"


def test_the_device_mesh_is_made_for_the_first_logical_gpus_device_type(monkeypatch):
    """Under torchrun with `--gpu cpu,0` (logical GPU 0 on the CPU, 1 on cuda:0), the backend is
    chosen for the first device (gloo) and the mesh is made for the same device type, cpu."""
    import torch.distributed.device_mesh as device_mesh

    from alexspec.compiler.parallel import devices, group

    for k, v in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(devices, "cuda_count", lambda: 1)
    monkeypatch.setattr(group.dist, "is_initialized", lambda: True)
    made = []
    monkeypatch.setattr(device_mesh, "init_device_mesh", lambda kind, shape, **kw: made.append((kind, shape)))
    ctx = group.setup(alexspec.load("specs/alexnet-mini.cfg"), "cpu,0")
    assert ctx.devices == [torch.device("cpu"), torch.device("cuda:0")]
    assert ctx.backend == "gloo" and made == [("cpu", (2,))]


def _bilinear_loop(img: torch.Tensor, tgt: int, scale: float) -> torch.Tensor:
    """kResizeBilinear in float64, pixel by pixel: target p reads source coordinate
    clamp(p*scale + size/2 - tgt/2*scale, 0, size - 1.01) and blends its 4 neighbours."""
    import math

    c, size = img.shape[0], img.shape[-1]
    out = torch.empty(c, tgt, tgt, dtype=torch.float64)

    def src(p):
        v = min(max(p * scale + size * 0.5 - tgt * 0.5 * scale, 0.0), size - 1.01)
        lo = math.floor(v)
        return lo, v - lo

    for py in range(tgt):
        y0, fy = src(py)
        for px in range(tgt):
            x0, fx = src(px)
            out[:, py, px] = ((1 - fy) * (1 - fx) * img[:, y0, x0] + (1 - fy) * fx * img[:, y0, x0 + 1]
                              + fy * (1 - fx) * img[:, y0 + 1, x0] + fy * fx * img[:, y0 + 1, x0 + 1])
    return out


def test_rscale_in_training_rescales_and_crops_as_cuda_convnet2():
    """RandomScaleLayer::fpropActs, one draw per batch (the module seeds Python's generator from
    torch's): r picks the i-th size tgtSize+i with r <= cumulative[i], a scale factor uniform in
    [max(1, size/(1+i+tgt)), size/(tgt+i)], a crop corner in [0, i]; the image is rescaled by
    bilinear interpolation (unless the size is the input's) and cropped. Against a float64 loop
    of those steps, for seeds that draw several sizes."""
    import random

    m = _model("[rs]\ntype=rscale\ninputs=data\nchannels=3\nmaxScale=2\ntgtSize=4\n"
               "[fc]\ntype=fc\ninputs=rs\noutputs=3\n")
    mod = m.layers["rs"].train()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    probs = [(i + 1) ** 2 / 55 for i in range(5)]  # n = 5 sizes (see the test above)
    cumulative = [sum(probs[:i + 1]) for i in range(5)]
    drawn = set()
    for seed in range(12):
        torch.manual_seed(seed)
        rng = random.Random(int(torch.randint(0, 2**62, (1,))))
        r = rng.random()
        i = next(k for k, p in enumerate(cumulative) if r <= p)
        size = 4 + i
        lo, hi = max(1.0, 8 / (1.0 + size)), 8 / size
        factor = lo + rng.random() * (hi - lo)
        top, left = rng.randrange(i + 1), rng.randrange(i + 1)
        want = torch.stack([_bilinear_loop(img, size, factor) if size != 8 else img for img in x])
        want = want[:, :, top:top + 4, left:left + 4]
        torch.manual_seed(seed)
        got = mod(x)
        assert torch.allclose(got, want, rtol=1e-12, atol=1e-12), (seed, size)
        drawn.add(size)
    assert len(drawn) >= 3 and max(drawn) > 4


def test_rscale_at_its_own_size_above_256_crops_without_rescaling():
    """An rscale whose only size is the input's (257x257, tgtSize 257, maxScale 1) returns the
    images unchanged in training: there is nothing to rescale (a bilinear pass at scale 1 would
    blend the last row and column; sizes above 256 are distinct int objects in CPython)."""
    net = loads(SPEC.format(sections="[rs]\ntype=rscale\ninputs=data\nchannels=3\nmaxScale=1\n"
                                     "tgtSize=257\n[fc]\ntype=fc\ninputs=rs\noutputs=3\n")
                .replace("innerSize=8", "innerSize=257"), "s.cfg")
    mod = build(net, devices="cpu", seed=0).layers["rs"].train()
    x = torch.randn(1, 3, 257, 257)
    assert torch.equal(mod(x), x)


def test_nailbed_on_one_pixel_images_keeps_the_pixel():
    """nailbed (stride 2) of 1x1 images: ceil(1/2) = 1 output pixel, the input's own."""
    net = loads(SPEC.format(sections="[nb]\ntype=nailbed\ninputs=data\nchannels=3\nstride=2\n"
                                     "[fc]\ntype=fc\ninputs=nb\noutputs=3\n")
                .replace("innerSize=8", "innerSize=1"), "s.cfg")
    x = torch.randn(2, 3, 1, 1)
    assert torch.equal(build(net, devices="cpu", seed=0).layers["nb"](x), x)


def test_only_the_model_output_is_marked_in_the_program():
    """`program()` marks one line `[model output]`: the logits' layer (fc4 in twocol-small)."""
    text = build(alexspec.load(TWOCOL), devices="cpu", seed=0).program()
    marked = [line.split(" = ")[0].split()[-1] for line in text.splitlines() if "[model output]" in line]
    assert marked == ["fc4"]


def test_too_few_devices_say_give_one_per_logical_gpu():
    """`--gpu cpu,cpu` for a 3-GPU spec: the error says 2 were given and how to give 3."""
    from alexspec.compiler.parallel.devices import resolve_devices
    from alexspec.errors import RunError

    with pytest.raises(RunError) as e:
        resolve_devices("cpu,cpu", 3)
    assert str(e.value.message) == "the spec uses 3 logical GPUs but 2 devices were given (cpu, cpu)"
    assert (e.value.where, e.value.hint) == ("--gpu", "give one device per logical GPU, e.g. 0,1,2 or cpu,cpu,cpu")


def test_a_weight_source_of_another_layer_type_is_refused_by_type():
    """A conv layer sharing an fc layer's weights: refused because the types differ (cuda-convnet
    requires the same type), at the conv's weightSource."""
    from alexspec.errors import SpecError

    text = ("[*]\nepsW=0.1\nepsB=0.1\nmomW=0.9\nmomB=0.9\nwc=0.01\n[data]\ntype=data\ndataIdx=0\n"
            "channels=1\n[labels]\ntype=data\ndataIdx=1\n[net]\ntype=net\ninnerSize=2\n"
            "[fa]\ntype=fc\ninputs=data\noutputs=4\n"
            "[cb]\ntype=conv\ninputs=data\nchannels=1\nfilters=16\nfilterSize=2\nweightSource=fa\n"
            "[fc]\ntype=fc\ninputs=fa,cb\noutputs=3\n[probs]\ntype=softmax\ninputs=fc\n"
            "[cost]\ntype=cost.logreg\ninputs=labels,probs\n")
    with pytest.raises(SpecError) as e:
        build(loads(text, "shared.cfg"), devices="cpu")
    (d,) = e.value.diagnostics
    assert d.message == ("layer 'cb': weightSource 'fa': 'fa' is a fc layer, this one is conv "
                         "(cuda-convnet requires the same type)")
    assert (d.span.path, d.span.line, d.code) == ("shared.cfg", 27, "weight-source")  # the weightSource= line


def test_the_program_puts_each_gpus_layers_in_its_own_column():
    """`program()`: a layer of gpu0 starts after 4 spaces, one of gpu1 after 4 + 36."""
    lines = build(alexspec.load(TWOCOL), devices="cpu", seed=0).program().splitlines()
    assert lines[1].startswith("    gpu0 conv1a = Conv(3->16 5x5/2 pad (0,1)x(0,1)) relu  <- feed(data)")
    assert lines[2].startswith(" " * 40 + "gpu1 conv1b = Conv(")


def test_too_many_devices_say_how_many_to_give():
    """More devices than logical GPUs: for 2 GPUs "give 2 devices", for 1 GPU "give 1 device"
    and "1 logical GPU" in the singular."""
    from alexspec.compiler.parallel.devices import resolve_devices
    from alexspec.errors import RunError

    with pytest.raises(RunError) as e:
        resolve_devices("cpu,cpu,cpu", 2)
    assert str(e.value.message) == "the spec uses 2 logical GPUs but 3 devices were given (cpu, cpu, cpu)"
    assert e.value.hint == "give 2 devices (one per logical GPU) or one for all, e.g. 0,1 or cpu,cpu"
    with pytest.raises(RunError) as e:
        resolve_devices("cpu,cpu", 1)
    assert str(e.value.message) == "the spec uses 1 logical GPU but 2 devices were given (cpu, cpu)"
    assert e.value.hint == "give 1 device (one per logical GPU) or one for all, e.g. 0 or cpu"


def test_the_device_checker_tags_the_models_parameters_with_their_gpus():
    """`LogicalDeviceChecker(model)` knows each parameter's logical GPU: an activation of gpu1
    fed to conv1a (whose weights live on gpu0) is a violation naming both GPUs."""
    from alexspec.compiler.checker import LogicalDeviceChecker

    model = build(alexspec.load(TWOCOL), devices="cpu", seed=0)
    x = torch.randn(1, 3, 16, 16)
    with LogicalDeviceChecker(model) as chk:
        chk.tag(x, 1)
        model.layers["conv1a"](x)
    assert chk.violations and set(chk.violations[0].gpus) == {0, 1}


def _hybrid_setup(monkeypatch, text: str):
    import torch.distributed.device_mesh as device_mesh

    from alexspec.compiler.parallel import group

    for k, v in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(group.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(device_mesh, "init_device_mesh", lambda *a, **k: None)
    return group.setup(loads(text, "h.cfg"), "cpu")


def test_a_hybrid_run_names_the_update_periods_of_its_split_layers_only(monkeypatch):
    """Under torchrun a hybrid spec's updatePeriod on a split layer (fca) is reported as not
    applied; one on a replicated layer (conv1, data parallel as usual) is not in that line."""
    text = open("tests/specs/compiler/hybrid-2gpu.cfg").read()
    on_conv1 = text.replace("initB=0.1\ngpu=0,1", "initB=0.1\ngpu=0,1\nupdatePeriod=2")
    on_fca = text.replace("outputs=16\nneuron=relu\ngpu=0", "outputs=16\nneuron=relu\ngpu=0\nupdatePeriod=3")
    assert on_conv1 != text and on_fca != text
    assert _hybrid_setup(monkeypatch, on_conv1).summary.endswith(
        "hybrid: logical GPU 0 of 2, 2 replicas data-parallel")
    assert _hybrid_setup(monkeypatch, on_fca).summary.endswith(
        "hybrid: logical GPU 0 of 2, 2 replicas data-parallel; updatePeriod=3 on the split layers is "
        "not applied: every layer sees the whole minibatch at once and is updated once per minibatch "
        "(docs/compiler.md, hybrid)")


def test_the_process_group_waits_300_seconds_by_default(monkeypatch):
    """`setup` starts the process group with a 300 s timeout unless told otherwise."""
    from datetime import timedelta

    import torch.distributed.device_mesh as device_mesh

    from alexspec.compiler.parallel import group

    for k, v in {"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(group.dist, "is_initialized", lambda: False)
    started = []
    monkeypatch.setattr(group.dist, "init_process_group", lambda backend, **kw: started.append((backend, kw)))
    monkeypatch.setattr(device_mesh, "init_device_mesh", lambda *a, **k: None)
    ctx = group.setup(alexspec.load("specs/alexnet-mini.cfg"), "cpu")
    assert started == [("gloo", {"timeout": timedelta(seconds=300)})] and ctx.owns_group
