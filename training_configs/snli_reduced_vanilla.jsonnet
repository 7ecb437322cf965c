(import 'lib/nli.libsonnet')('vanilla', 'snli_reduced')
