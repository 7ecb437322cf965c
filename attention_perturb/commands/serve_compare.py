import argparse
import sys

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.arguments import positive_int
from attention_perturb.commands.errors import reporting_errors


@Subcommand.register("serve-compare")
class ServeCompare(Subcommand):
    """`allennlp serve-compare runs/*/model.tar.gz [--examples FILE] [--port 8000]`: a local page
    that compares trained attention models side by side. Type a sentence (a passage and a question
    for pair models) or pick an example, choose an importance measure, and every model shows its
    predicted label and probability, its attention and the measure's importance as heatmaps, and
    their Pearson, Kendall τ and top-k agreement: the numbers `allennlp predict --predictor
    attention_saliency` gives for the same input. Models load once, at start; the page's JSON is at
    /api/compare?text=...&measure=... . Serves on 127.0.0.1 unless --host says otherwise."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Serve a page comparing models.")
        subparser.add_argument("archives", nargs="+", help="model.tar.gz archives of attention models")
        subparser.add_argument("--names", nargs="+", help="one name per archive (default: each archive's folder)")
        subparser.add_argument("--examples", help="examples for the page's picker: the JSON lines (or SST trees) "
                                                  "`allennlp predict` reads")
        subparser.add_argument("--host", default="127.0.0.1",
                               help="address to listen on (127.0.0.1: this machine only)")
        subparser.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
        subparser.add_argument("--max-words", type=positive_int, default=300,
                               help="longer texts are cut to this many words, with a notice")
        subparser.add_argument("--threads", type=positive_int, default=2,
                               help="threads that run the models side by side, each model's torch "
                                    "operations on one of them: split across threads, the small operations of a "
                                    "batch mostly wait for each other, the more so on a busy CPU")
        subparser.add_argument("--cuda-device", type=int, default=-1)
        reporting_errors(subparser, serve_compare_from_args)
        return subparser


def serve_compare_from_args(args: argparse.Namespace) -> None:
    # The web stack is imported here, so that the package's other commands do not load it.
    from attention_perturb.serve.app import create_app
    from attention_perturb.serve.comparison import ModelComparison, read_examples
    from attention_perturb.serve.server import address, bound_socket, is_loopback, uvicorn_server

    if not is_loopback(args.host):
        print(f"warning: --host {args.host}: the page and its models answer anyone who can reach this machine "
              "at that address; there is no authentication", file=sys.stderr)
    import torch

    torch.set_num_threads(1)
    comparison = ModelComparison(args.archives, args.names, args.max_words, args.cuda_device, workers=args.threads)
    examples = read_examples(args.examples, comparison) if args.examples else []
    sock = bound_socket(args.host, args.port)
    print(f"serving {len(comparison.models)} model(s) at {address(sock)} (Ctrl-C stops)", flush=True)
    try:
        uvicorn_server(create_app(comparison, examples)).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then raises it again for its caller
        print("stopped", file=sys.stderr)
