(import 'lib/nli.libsonnet')('attention_iat', 'multinli_reduced')
