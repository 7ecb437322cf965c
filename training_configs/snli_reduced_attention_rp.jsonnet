(import 'lib/nli.libsonnet')('attention_rp', 'snli_reduced')
