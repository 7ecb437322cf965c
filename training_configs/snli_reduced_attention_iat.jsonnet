(import 'lib/nli.libsonnet')('attention_iat', 'snli_reduced')
