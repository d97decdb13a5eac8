//! QR codes as the hosted pages show them: an SVG document, at least 200 px wide. A longer
//! text takes more modules and a wider SVG, so the pages scale it to their box
//! (`[&>svg]:w-full`) rather than let it spill out of it.

/// `data` as a QR code in SVG; `None` when it is too long for one.
pub fn svg(data: &str) -> Option<String> {
    let qr = qrcode::QrCode::new(data.as_bytes()).ok()?;
    Some(
        qr.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}
