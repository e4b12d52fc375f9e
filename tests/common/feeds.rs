//! Feeds built by the tests, shared by the native tests (`tests/common`) and the end-to-end
//! tests' feed server (`tests/e2e`, which includes this file by path).

/// An RSS feed of `ordinary` ordinary items, then one whose summary is `amps` `&`s in a
/// CDATA section, with no `;` anywhere (issue 22: the feed that wedged ingestion).
pub fn ampersand_feed(amps: usize, ordinary: usize) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>Ampersands</title>\
         <link>https://amp.example/</link>\n",
    );
    for i in 0..ordinary {
        xml.push_str(&format!(
            "<item><title>Ordinary {i}</title><guid>ordinary-{i}</guid>\
             <description>Fine &amp; dandy</description></item>\n"
        ));
    }
    xml.push_str("<item><title>Ampersands</title><guid>amps</guid><description><![CDATA[");
    xml.push_str(&"&".repeat(amps));
    xml.push_str("]]></description></item>\n</channel></rss>\n");
    xml
}
