"""Use cases of the reporting service: ``updates`` applies the other services' events to the
read models; ``summaries`` reads the summaries from them; ``feed`` publishes and serves the
ministry feed; ``rebuild`` builds the read models anew from the topics."""
