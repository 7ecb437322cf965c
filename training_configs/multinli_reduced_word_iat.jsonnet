(import 'lib/nli.libsonnet')('word_iat', 'multinli_reduced')
