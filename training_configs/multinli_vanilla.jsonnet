(import 'lib/nli.libsonnet')('vanilla', 'multinli')
