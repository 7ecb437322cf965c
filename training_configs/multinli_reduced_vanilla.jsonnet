(import 'lib/nli.libsonnet')('vanilla', 'multinli_reduced')
