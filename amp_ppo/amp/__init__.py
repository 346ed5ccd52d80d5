"""The AMP algorithm in pure JAX: settings, discriminator and its losses,
features, replay, reference state initialisation, the style command of a
policy of several styles, and the per-epoch `Amp` object that the vendored
PPO trainer calls. No file I/O besides reading the
reference motion in `build`."""
