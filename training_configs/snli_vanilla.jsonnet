(import 'lib/nli.libsonnet')('vanilla', 'snli')
