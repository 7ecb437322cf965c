#!/usr/bin/env bash
# What benchmarks/gpu_check.sh needs on a lent GPU machine that its image lacks, as two archives
# to carry with the run (`carry: [".whl"]`): .whl/allennlp-stack-cp312.tar.xz (~20 MB) and
# .whl/wordnet.tar.xz (this checkout's WordNet, from `make install`).
#
#     bash benchmarks/gpu_bundle.sh        # here, once, with network access (minutes: xz -9)
#
# The machine (/work/.library/device/KINDS.md) has Python 3.12 with torch 2.11 (CUDA), numpy,
# scipy, scikit-learn, h5py, requests, tqdm, typer, rich, protobuf, safetensors, pytest and more, but
# not allennlp and what it imports. Those are below: the pinned versions of requirements.txt, as
# cp312 manylinux wheels, except
#   - transformers 4.25.1 needs tokenizers < 0.14, which has no cp312 wheel, and the image's
#     transformers 5 / huggingface_hub 1 lack what allennlp 2.10.1 imports (transformers.AdamW,
#     huggingface_hub.Repository): transformers 4.34.1, tokenizers 0.14.1 and huggingface_hub 0.17.3
#     instead (the package never calls them; allennlp imports them; a tiny training ran with them);
#   - fairscale 0.4.6 has no wheel on PyPI: built here from its sdist (pure Python);
#   - ray (tuning only) and the 300-d spaCy vectors (55 MB; gpu_check.sh trains with random
#     embeddings) stay behind.
# The wheels would be 89 MB, over the 64 MiB a run may carry. Unpacked into one site folder, with the
# debugging symbols stripped from the extensions, the test folders dropped and botocore's 400 AWS
# service models removed (botocore is imported by cached_path for s3:// paths, never used here), the
# folder packs to ~20 MB of xz. gpu_check.sh unpacks it to /tmp/site and puts it on PYTHONPATH, and
# WordNet to /tmp/nltk_data (NLTK_DATA).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/pip}
OUT=.whl/allennlp-stack-cp312.tar.xz
PACKAGES=(
  allennlp==2.10.1 annotated-types==0.8.0 base58==2.1.1 blis==1.3.4 boto3==1.44.8 botocore==1.44.8
  cached-path==1.1.6 catalogue==2.0.10 cffi==2.1.1 confection==1.3.4 cryptography==50.0.2 cymem==2.0.16
  defusedxml==0.7.1 dill==0.4.1 google-api-core==2.44.0 google-auth==2.63.0 google-cloud-core==2.8.0
  google-cloud-storage==2.19.0 google-resumable-media==2.11.0 googleapis-common-protos==1.76.0
  jmespath==1.1.0 jsonnet==0.22.0 lmdb==3.0.0 more-itertools==11.2.1 murmurhash==1.0.16 nltk==3.10.4
  opentelemetry-api==1.45.2 preshed==3.0.15 pydantic==2.14.4 pydantic_core==2.50.5 s3transfer==0.19.3
  spacy==3.8.18 spacy-legacy==3.0.12 spacy-loggers==1.0.5 srsly==2.5.6 tensorboardX==2.6.5
  termcolor==3.3.0 thinc==8.3.14 typing-inspection==0.4.5 wasabi==1.1.3 weasel==1.0.1
  transformers==4.34.1 tokenizers==0.14.1 huggingface_hub==0.17.3
)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$PIP" download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d "$scratch/wheels" "${PACKAGES[@]}"
"$PIP" wheel --quiet --no-deps --no-build-isolation -w "$scratch/wheels" fairscale==0.4.6
mkdir "$scratch/site"
for wheel in "$scratch"/wheels/*.whl; do
  python3 -m zipfile -e "$wheel" "$scratch/site"
done
cd "$scratch/site"
rm -rf benchmarks  # fairscale's own, which would shadow the repository's
find . -name "*.so" -exec strip --strip-unneeded {} +
rm -rf spacy/tests thinc/tests srsly/tests preshed/tests cymem/tests murmurhash/tests blis/tests nltk/test
find botocore/data -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
find . -name __pycache__ -type d -prune -exec rm -rf {} +
cd - >/dev/null
mkdir -p .whl
tar -C "$scratch/site" -cf - . | xz -9 -T0 >"$OUT"
tar -C .venv/nltk_data -cf - corpora/wordnet | xz -9 -T0 >.whl/wordnet.tar.xz
ls -l "$OUT" .whl/wordnet.tar.xz
