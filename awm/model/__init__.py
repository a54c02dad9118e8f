"""The model: its settings turned into client arguments in one place (`client`), named tables of an OpenHands
config.toml (`tables`), and the check made before the first issue (`check`)."""
