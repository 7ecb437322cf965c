(import 'lib/nli.libsonnet')('word_at', 'multinli_reduced')
