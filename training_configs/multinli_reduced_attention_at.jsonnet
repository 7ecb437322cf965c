(import 'lib/nli.libsonnet')('attention_at', 'multinli_reduced')
