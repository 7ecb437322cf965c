(import 'lib/nli.libsonnet')('attention_rp', 'multinli_reduced')
