"""MuJoCo Playground integration: where its robots come from."""
