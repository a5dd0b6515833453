"""One module per delivery integration, all behind `alerting.channels.base.Channel`."""
