(import 'lib/sst.libsonnet')('vanilla')
