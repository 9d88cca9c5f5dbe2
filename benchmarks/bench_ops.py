"""Kernels per decoder step, with and without XLA fusion, and FLOPs per sketch; one JSON line.

Nothing is timed. The method (docs/PERFORMANCE.md, "GPU"):
* graph ops: the training decoder (teacher-forced `decode`, the loss, and the gradients
  of every decoder weight, i.e. hyper_backward's forward and backward loops) is traced
  as a tf.function; the ops of each `while` body in its function library are counted.
  Each op is one kernel launch (or one host-side op) per step on a GPU without XLA.
  `compute_ops` leaves out what launches nothing on the device (Identity, Const, NoOp,
  the loop's own counters and TensorList reads/writes, which TensorFlow places on the host
  or runs as cheap copies: counted apart as `list_ops`).
* XLA: the same function with jit_compile=True, `experimental_get_compiler_ir` gives the
  optimized HLO (of this CPU's XLA; a GPU's fuses alike but may fuse matmul epilogues too);
  the instructions of each while body that become kernels are counted: fusions, dots,
  custom calls and any unfused element-wise op; parameters, tuples, get-tuple-element,
  constants and bitcasts launch nothing.
* FLOPs per sketch: bench_train.batch_flops (forward + backward, matrix products only)
  over an epoch of training batches of the bundled QuickDraw categories and of sheep.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tensorflow as tf  # noqa: E402

import hparams as hparams_lib  # noqa: E402
import model as model_lib  # noqa: E402

# Ops that launch no device kernel, or only bookkeeping of the loop itself.
FREE = {"Identity", "Const", "NoOp", "IdentityN", "StopGradient", "Placeholder", "_Arg", "_Retval"}
LIST = {"TensorListGetItem", "TensorListSetItem", "TensorListReserve", "TensorListLength",
        "TensorListElementShape", "TensorListFromTensor", "TensorListStack", "TensorListPushBack",
        "TensorListPopBack"}
HLO_FREE = {"parameter", "tuple", "get-tuple-element", "constant", "bitcast", "copy-start",
            "copy-done", "after-all"}


def decoder_grad_fn(net: model_lib.SketchGloc, hps):
    """Teacher-forced decoder loss and its gradients w.r.t. the decoder's weights (training)."""
    weights = list(net.cell.trainable_variables) + list(net.output_layer.trainable_variables)

    def fn(targets, y):
        with tf.GradientTape() as tape:
            params = net.decode(targets[:, :-1], y, training=True)
            loss = tf.reduce_sum(model_lib.reconstruction_losses(params, targets[:, 1:], True))
        return loss, tape.gradient(loss, weights)
    return fn


def step_grad_fn(net: model_lib.SketchGloc):
    """The whole training loss (encoder and decoder) and its gradients w.r.t. every weight."""
    def fn(batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(net.sketch_losses(batch, training=True))
        return loss, tape.gradient(loss, net.trainable_variables)
    return fn




def graph_loop_ops(concrete) -> list:
    """Op counts of every while body in a concrete function's library, largest first."""
    bodies = []
    for func in concrete.graph.as_graph_def().library.function:
        if not re.match(r"while(_\d+)?_body_", func.signature.name):
            continue
        kinds = collections.Counter(node.op for node in func.node_def)
        free = sum(kinds[k] for k in FREE)
        lists = sum(kinds[k] for k in LIST)
        total = sum(kinds.values())
        bodies.append({"ops": total, "compute_ops": total - free - lists, "list_ops": lists,
                       "top": dict(kinds.most_common(8))})
    return sorted(bodies, key=lambda b: -b["compute_ops"])


def hlo_loop_kernels(hlo: str) -> list:
    """Kernel-launching instructions of every while body computation of an HLO module, largest first."""
    bodies = collections.defaultdict(collections.Counter)
    current = None
    names = set(re.findall(r"body=%?([\w.\-]+)", hlo))
    for line in hlo.splitlines():
        head = re.match(r"^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$", line)
        if head and not line.lstrip().startswith("ROOT"):
            current = head.group(1) if head.group(1) in names else None
            continue
        if current is None:
            continue
        inst = re.match(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*\S+\s+([\w\-]+)\(", line)
        if inst and inst.group(1) not in HLO_FREE:
            bodies[current][inst.group(1)] += 1
    out = [{"kernels": sum(c.values()), "kinds": dict(c.most_common(8))} for c in bodies.values()]
    return sorted(out, key=lambda b: -b["kernels"])


def epoch_flops(hps, datasets: dict, data_dir: str) -> dict:
    """Mean analytic training FLOPs per sketch over an epoch of each data set (shape_buckets 0 and 4)."""
    import warnings

    import utils
    from bench_train import batch_flops
    from train import BatchSource

    out = {}
    for name, categories in datasets.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = utils.load_dataset(data_dir, categories, hps.num_per_category)
        h = hparams_lib.fit_to(hps, data, categories=categories)
        entry = {}
        for buckets in (0, 4):
            source = BatchSource(data.train, h.replace(shape_buckets=buckets), data, True, seed=0)
            flops, steps = 0.0, 0
            for b in range(source.num_batches):
                batch = dict(zip(source.spec, source(b)))
                flops += batch_flops(batch, h)
                steps += batch["targets"].shape[1] - 1
            n = source.num_batches * h.batch_size
            entry[f"shape_buckets={buckets}"] = {"gflops_per_sketch": round(flops / n / 1e9, 3),
                                                 "mean_padded_steps": round(steps / source.num_batches, 1)}
        out[name] = entry
    return out


def main(argv: list | None = None) -> dict:
    """Count, print and return the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hparams", default="preset=paper")
    parser.add_argument("--no_flops", action="store_true", help="skip the FLOPs over the data sets")
    parser.add_argument("--no_xla", action="store_true", help="skip the XLA compilation")
    args = parser.parse_args(argv)
    hps = hparams_lib.parse(args.hparams)
    net = model_lib.SketchGloc(hps)
    batch, steps = 2, 4  # the loop body does not depend on them
    targets = tf.zeros([batch, steps + 1, 5])
    y = tf.zeros([batch, hps.z_size])
    fn = decoder_grad_fn(net, hps)
    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    out = {"hparams": args.hparams, "decoder": hps.dec_model, "dec_rnn_size": hps.dec_rnn_size,
           "tensorflow": tf.__version__, "gpus": gpus, "xla_backend": "gpu" if gpus else "cpu"}
    concrete = tf.function(fn).get_concrete_function(targets, y)
    out["graph_while_bodies"] = graph_loop_ops(concrete)
    # Every loop of a training step: the decoder's two and the node encoder's (forward, autodiff).
    batch_spec = model_lib.batch_spec()
    step = tf.function(step_grad_fn(net), input_signature=[batch_spec]).get_concrete_function()
    out["step_while_bodies"] = [{k: b[k] for k in ("ops", "compute_ops", "list_ops")}
                                for b in graph_loop_ops(step)]
    out["step_top_level_ops"] = len(step.graph.as_graph_def().node)
    if not args.no_xla:
        hlo = tf.function(fn, jit_compile=True).experimental_get_compiler_ir(targets, y)(
            stage="optimized_hlo")
        out["xla_while_bodies"] = hlo_loop_kernels(hlo)
    if not args.no_flops:
        from bench_shapes import DATASETS
        out["flops"] = epoch_flops(hps, DATASETS, os.path.join(REPO, "data"))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
