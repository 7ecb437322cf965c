(import 'lib/nli.libsonnet')('word_at', 'snli_reduced')
