extension Duration {
    /// Seconds as a `Double`, for APIs that take a `TimeInterval` and for reports.
    public var timeInterval: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
