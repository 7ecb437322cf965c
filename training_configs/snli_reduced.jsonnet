// snli_reduced with any method of lib/methods.libsonnet, named by the METHOD environment variable (experiments/methods.py
// config_for trains a registered method without a config file of its own here).
(import 'lib/nli.libsonnet')(std.extVar('METHOD'), 'snli_reduced')
