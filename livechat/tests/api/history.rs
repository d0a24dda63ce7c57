//! GET /rooms/{id}/messages: pages in both directions, always oldest first.

use livechat_test_support::{app::*, shapes::*};

#[tokio::test]
async fn history_pages_backwards_and_forwards_oldest_first_with_has_more() {
    let app = spawn_app().await;
    let bea = app.create_agent("agent").await;
    let room = app.engaged_room(&bea, "Ana").await;
    for i in 0..10 {
        let token = if i % 2 == 0 { &room.visitor_token } else { &bea.token };
        app.send(token, &room.id, &format!("message {i}"), None).await.json(201);
    }
    let n = app.get_room(&bea.token, &room.id).await.json(200)["last_seq"].as_u64().unwrap();
    assert!(n >= 12, "first question + join text + 10 messages: last_seq {n}");
    let page = |q: &'static str| {
        let app = &app;
        let token = bea.token.clone();
        let id = room.id.clone();
        async move {
            let r = app.history(&token, &id, q).await;
            let b = r.json(200).clone();
            assert_keys(&b, &["messages", "has_more"]);
            for m in b["messages"].as_array().unwrap() {
                assert_message_shape(m);
            }
            b
        }
    };

    // The newest 3, oldest first; older ones exist.
    let p = page("limit=3").await;
    assert_eq!(seqs(&p), vec![n - 2, n - 1, n]);
    assert_eq!(p["has_more"], true);
    assert_eq!(p["messages"][2]["content"], "message 9");

    // Paging backwards with before_seq reaches seq 1 once, with no gaps.
    let mut all: Vec<u64> = seqs(&p);
    let mut before = n - 2;
    loop {
        let r = app.history(&bea.token, &room.id, &format!("before_seq={before}&limit=3")).await;
        let b = r.json(200).clone();
        let s = seqs(&b);
        assert!(!s.is_empty(), "a page before {before} is empty: {b}");
        assert_eq!(*s.last().unwrap(), before - 1, "the page ends right before {before}");
        assert!(s.windows(2).all(|w| w[1] == w[0] + 1), "oldest first, no gaps: {s:?}");
        assert_eq!(b["has_more"], s[0] > 1, "has_more iff older ones exist: {b}");
        all.splice(0..0, s.iter().copied());
        if b["has_more"] == false {
            break;
        }
        before = s[0];
    }
    assert_eq!(all, (1..=n).collect::<Vec<_>>());
    let p = page("before_seq=3&limit=3").await;
    assert_eq!(seqs(&p), vec![1, 2]);
    assert_eq!(p["has_more"], false);

    // Forwards with after_seq: the first `limit` after it; has_more iff newer ones exist.
    let p = page("after_seq=0&limit=5").await;
    assert_eq!(seqs(&p), vec![1, 2, 3, 4, 5]);
    assert_eq!(p["has_more"], true);
    let p = page("after_seq=5&limit=5").await;
    assert_eq!(seqs(&p), vec![6, 7, 8, 9, 10]);
    assert_eq!(p["has_more"], n > 10);
    let r = app.history(&bea.token, &room.id, &format!("after_seq={}&limit=5", n - 2)).await;
    let b = r.json(200);
    assert_eq!(seqs(b), vec![n - 1, n]);
    assert_eq!(b["has_more"], false);
    let r = app.history(&bea.token, &room.id, &format!("after_seq={n}&limit=5")).await;
    assert_eq!(seqs(r.json(200)), Vec::<u64>::new());
    assert_eq!(r.body["has_more"], false);
    let r = app.history(&bea.token, &room.id, &format!("after_seq={}&limit=3", n - 3)).await;
    assert_eq!(seqs(r.json(200)), vec![n - 2, n - 1, n]);
    assert_eq!(r.body["has_more"], false, "exactly `limit` left is not more: {}", r.text);

    // No cursor and no limit: history_load_count (20) newest, here all of them.
    let p = page("").await;
    assert_eq!(seqs(&p), (1..=n).collect::<Vec<_>>());
    assert_eq!(p["has_more"], false);
    let p = page("limit=500").await;
    assert_eq!(seqs(&p).len() as u64, n);

    // Limits out of 1..500 and cursors that are not numbers are 422s naming the parameter.
    for q in ["limit=0", "limit=501"] {
        app.history(&bea.token, &room.id, q).await.invalid_field("limit");
    }
    app.history(&bea.token, &room.id, "before_seq=abc").await.invalid_field("before_seq");
    app.history(&bea.token, &room.id, "after_seq=-1").await.invalid_field("after_seq");
    app.history(&bea.token, &room.id, "limit=lots").await.invalid_field("limit");
}
