(import 'lib/nli.libsonnet')('word_iat', 'snli_reduced')
