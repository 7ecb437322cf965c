(import 'lib/nli.libsonnet')('attention_at', 'snli_reduced')
