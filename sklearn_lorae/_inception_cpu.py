"""The FID Inception-v3 network on the CPU, run layer by layer from its frozen graph.

The published TorchScript graph runs every convolution, batch normalisation and ReLU as
three passes over large feature maps, in batches whose first maps (100-350 MB at 64
images) do not fit in any cache. Convolutions take nearly nine tenths of its time, and
already run close to the CPU's float32 peak: what can be saved lies around them
(``benchmarks/results/frechet.md``, section 2c). :class:`CpuInception` freezes the
graph, folds each batch normalisation into its convolution, reads the result into a
list of steps and runs them with oneDNN's convolutions directly, changed in three ways
that compute the same function up to the rounding of float32:

- *ReLU fused into its convolution* (a oneDNN post-op): one pass less per layer.
- *The pooling branches pool after their 1 x 1 convolution.* Every Inception block
  averages its input over 3 x 3 windows and then applies a 1 x 1 convolution; both are
  linear and commute (the averages leave out the padding, so the bias commutes too), and
  pooling the convolution's 32-192 channels instead of its 192-2048 input channels
  costs a fraction.
- *The stem runs 8 images at a time* (the chain of five convolutions and two max
  poolings before the first block, two fifths of the time at 64 images): its maps stay in the
  cache between layers; the blocks run on the whole batch, where small batches would
  make their convolutions less efficient.

The graph is checked as it is read; a step it does not know raises
``NotImplementedError``, and :func:`sklearn_lorae._features.load_cpu_inception` then
falls back to the TorchScript graph.
"""

import dataclasses
import warnings

import torch
from torch.nn import functional as F

# Images per chunk in the stem. On one core of a Zen 5 EPYC the stem alone ran 1.7 times
# as fast at 2, 4 or 8 images as at 64, 1.2 times at 16; the whole network gains 1-2% on
# a quiet core and more when other processes share the caches (benchmarks/results/frechet.md).
STEM_CHUNK = 8

# The graph's check that the input has three channels: skipped, __call__ checks it.
_INPUT_CHECK = frozenset({"aten::size", "prim::ListUnpack", "aten::eq", "prim::If"})


@dataclasses.dataclass
class _Step:
    op: str  # "conv", "relu", "max_pool", "avg_pool", "cat", "reshape"
    inputs: list  # names of the values it reads
    output: str
    params: dict


class CpuInception:
    """Callable from a (n, 3, 299, 299) float32 tensor to its (n, 2048) features,
    computing what ``network`` (the FID TorchScript graph, without its ``contiguous()``
    calls) computes. Build it once: freezing and reading the graph take about a second."""

    def __init__(self, network):
        if not torch.backends.mkldnn.is_available() or not hasattr(torch.ops.mkldnn, "_convolution_pointwise"):
            raise NotImplementedError("this torch has no oneDNN convolutions")
        with warnings.catch_warnings():
            # torch deprecates TorchScript, but the graph is only published in that
            # format; nothing the user could act on.
            warnings.filterwarnings("ignore", message=".*torch.jit.freeze.*", category=DeprecationWarning)
            frozen = torch.jit.freeze(network.eval())
        _drop_weight_casts(frozen.graph)
        # Constant propagation, then conv + batch-norm folding, now that the weights
        # are constants of the graph.
        torch.jit.run_frozen_optimizations(frozen)
        steps, self._input, self._output = _read_graph(frozen.graph)
        _check_order(steps, self._input, self._output)
        steps = _fuse_relu(steps)
        steps = _pool_after_conv(steps)
        self._stem, self._blocks = _split_stem(steps, self._input)
        self._stem_output = self._stem[-1].output
        self._stem_frees = _last_uses(self._stem, keep={self._stem_output})
        self._blocks_frees = _last_uses(self._blocks, keep={self._output})

    def __call__(self, images):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"Expected images of shape (n, 3, 299, 299), got {tuple(images.shape)}.")
        stem = [
            self._run(self._stem, self._stem_frees, {self._input: chunk})[self._stem_output]
            for chunk in images.split(STEM_CHUNK)
        ]
        values = {self._stem_output: stem[0] if len(stem) == 1 else torch.cat(stem)}
        del stem
        return self._run(self._blocks, self._blocks_frees, values)[self._output]

    @staticmethod
    def _run(steps, frees, values):
        for step, free in zip(steps, frees):
            values[step.output] = _OPS[step.op](step, *[values[name] for name in step.inputs])
            for name in free:
                del values[name]
        return values


def _conv(step, x):
    p = step.params
    return torch.ops.mkldnn._convolution_pointwise(
        x, p["weight"], p["bias"], p["padding"], p["stride"], p["dilation"], p["groups"],
        "relu" if p["relu"] else "none", [], None,
    )  # fmt: skip


_OPS = {
    "conv": _conv,
    "relu": lambda step, x: x.relu_() if step.params.get("in_place") else x.relu(),
    "max_pool": lambda step, x: F.max_pool2d(x, **step.params),
    "avg_pool": lambda step, x: F.avg_pool2d(x, **step.params),
    "cat": lambda step, *xs: torch.cat(xs, dim=step.params["dim"]),
    "reshape": lambda step, x: x.reshape(step.params["shape"]),
}


def _drop_weight_casts(graph):
    """Remove ``weight.to(x.dtype)`` from the graph: with float32 inputs a no-op, it
    hides from the freezing passes that the weights are constants, and so keeps them
    from folding the batch normalisations into the convolutions."""
    for node in graph.findAllNodes("aten::to"):
        source = node.inputsAt(0)
        if source.node().kind() == "prim::Constant" and source.type().dtype() == torch.float32:
            node.output().replaceAllUsesWith(source)
            node.destroy()
    torch._C._jit_pass_dce(graph)


def _read_graph(graph):
    """The frozen graph as a list of steps, its input name and its output name."""

    def constant(value):
        if value.node().kind() != "prim::Constant":
            raise NotImplementedError(f"{value.debugName()} is not a constant")
        return value.toIValue()

    inputs = list(graph.inputs())
    outputs = list(graph.outputs())
    if len(inputs) != 2 or len(outputs) != 1:
        raise NotImplementedError("the graph does not map one tensor to one tensor")
    lists, steps = {}, []
    for node in graph.nodes():
        kind = node.kind()
        args = list(node.inputs())
        if kind == "prim::Constant" or kind in _INPUT_CHECK:
            continue
        output = node.output().debugName()
        if kind == "prim::ListConstruct":
            lists[output] = [value.debugName() for value in args]
        elif kind == "aten::conv2d":
            weight, bias, stride, padding, dilation, groups = (constant(value) for value in args[1:])
            if bias is None or isinstance(padding, str):
                raise NotImplementedError("a convolution without bias or with string padding")
            params = dict(weight=weight, bias=bias, stride=stride, padding=padding, dilation=dilation, groups=groups)
            steps.append(_Step("conv", [args[0].debugName()], output, {**params, "relu": False}))
        elif kind == "aten::relu":
            steps.append(_Step("relu", [args[0].debugName()], output, {}))
        elif kind == "aten::max_pool2d":
            names = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
            params = dict(zip(names, (constant(value) for value in args[1:])))
            steps.append(_Step("max_pool", [args[0].debugName()], output, params))
        elif kind == "aten::avg_pool2d":
            names = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
            params = dict(zip(names, (constant(value) for value in args[1:])))
            steps.append(_Step("avg_pool", [args[0].debugName()], output, params))
        elif kind == "aten::cat":
            steps.append(_Step("cat", lists[args[0].debugName()], output, {"dim": constant(args[1])}))
        elif kind == "aten::reshape":
            steps.append(_Step("reshape", [args[0].debugName()], output, {"shape": constant(args[1])}))
        else:
            raise NotImplementedError(f"the graph has a step {kind}")
    return steps, inputs[1].debugName(), outputs[0].debugName()


def _check_order(steps, input_name, output_name):
    """Every value is computed before it is read, by the steps that were read: none
    comes from the skipped input check."""
    known = {input_name}
    for step in steps:
        missing = [name for name in step.inputs if name not in known]
        if missing:
            raise NotImplementedError(f"a step reads {missing}, which no step computes")
        known.add(step.output)
    if output_name not in known:
        raise NotImplementedError("no step computes the graph's output")


def _consumers(steps):
    users = {}
    for step in steps:
        for name in step.inputs:
            users.setdefault(name, []).append(step)
    return users


def _fuse_relu(steps):
    """A convolution whose only reader is a ReLU applies it as oneDNN's post-op."""
    users = _consumers(steps)
    fused = []
    for step in steps:
        readers = users.get(step.output, [])
        if step.op == "conv" and len(readers) == 1 and readers[0].op == "relu":
            step.params["relu"] = True
            step.output = readers[0].output
            readers[0].op = None
        if step.op is not None:
            fused.append(step)
    return fused


def _pool_after_conv(steps):
    """``relu(conv1x1(avg_pool(x)))`` -> ``relu(avg_pool(conv1x1(x)))``, for average
    poolings that leave out the padding (so that they average the bias to itself)."""
    users = _consumers(steps)
    result = []
    for step in steps:
        readers = users.get(step.output, [])
        p = step.params
        if (
            step.op == "avg_pool"
            and not p["count_include_pad"]
            and p["divisor_override"] is None
            and len(readers) == 1
            and readers[0].op == "conv"
            and readers[0].params["relu"]
            and _is_pointwise(readers[0].params)
        ):
            conv = readers[0]
            pre_pool, pooled = f"{conv.output}:pre_pool", f"{conv.output}:pooled"
            result.append(_Step("conv", step.inputs, pre_pool, {**conv.params, "relu": False}))
            result.append(_Step("avg_pool", [pre_pool], pooled, p))
            conv.op, conv.inputs, conv.params = "relu", [pooled], {"in_place": True}
        else:
            result.append(step)
    return result


def _is_pointwise(params):
    weight = params["weight"]
    return (
        tuple(weight.shape[2:]) == (1, 1)
        and list(params["stride"]) == [1, 1]
        and list(params["padding"]) == [0, 0]
        and params["groups"] == 1
    )


def _split_stem(steps, input_name):
    """The chain of steps from the input up to the first value read by several steps
    (where the first Inception block branches), and the rest."""
    users = _consumers(steps)
    current = input_name
    for index, step in enumerate(steps):
        if step.inputs != [current]:
            raise NotImplementedError("the graph does not start with a chain of steps")
        if len(users.get(step.output, [])) > 1:
            return steps[: index + 1], steps[index + 1 :]
        current = step.output
    raise NotImplementedError("the graph never branches")


def _last_uses(steps, keep):
    """For each step, the values to drop after it: those it reads for the last time."""
    last = {}
    for index, step in enumerate(steps):
        for name in step.inputs:
            last[name] = index
    frees = [[] for _ in steps]
    for name, index in last.items():
        if name not in keep:
            frees[index].append(name)
    return frees
