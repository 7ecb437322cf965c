(import 'lib/agnews.libsonnet')('vanilla')
