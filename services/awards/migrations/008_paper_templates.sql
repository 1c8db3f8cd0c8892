-- The wording of the Board's papers (proposal, draft decision, certificate): a template the
-- board edits, with named placeholders (${year}, ${form_name}...). Every edit is a new
-- version; the latest version of a kind is the one used. Seeded with the defaults (version 1).
CREATE TABLE paper_templates (
    kind       text NOT NULL,
    version    integer NOT NULL,
    text       text NOT NULL,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, version)
);

INSERT INTO paper_templates (kind, version, text, changed_by) VALUES
('proposal', 1,
 'Căn cứ Luật Thi đua, khen thưởng và các văn bản hướng dẫn thi hành;' || E'\n' ||
 'Căn cứ Kế hoạch tổ chức phong trào thi đua "Cả nước chung tay vì người nghèo – Không để ai bị bỏ lại phía sau" của ${province};' || E'\n' ||
 'Trên cơ sở hồ sơ đề nghị của các đơn vị và kết quả thẩm định, Ban Thi đua – Khen thưởng kính trình ${authority} xem xét, quyết định tặng ${form_name} cho ${count} tập thể, cá nhân, hộ gia đình đã có thành tích xuất sắc trong phong trào thi đua năm ${year} (có danh sách kèm theo).' || E'\n' ||
 'Kính trình ${authority} xem xét, quyết định./.',
 'system'),
('decision', 1,
 'Điều 1. Tặng ${form_name} cho ${count} tập thể, cá nhân, hộ gia đình (có danh sách kèm theo) đã có thành tích xuất sắc trong phong trào thi đua "Cả nước chung tay vì người nghèo – Không để ai bị bỏ lại phía sau" năm ${year}.' || E'\n' ||
 'Điều 2. Quyết định này có hiệu lực kể từ ngày ký.' || E'\n' ||
 'Điều 3. Chánh Văn phòng Ủy ban nhân dân, Trưởng Ban Thi đua – Khen thưởng, thủ trưởng các cơ quan, đơn vị có liên quan và các tập thể, cá nhân, hộ gia đình có tên tại Điều 1 chịu trách nhiệm thi hành Quyết định này./.',
 'system'),
('certificate', 1,
 'Đã có thành tích xuất sắc trong phong trào thi đua "Cả nước chung tay vì người nghèo – Không để ai bị bỏ lại phía sau" năm ${year}.' || E'\n' ||
 '${achievements}',
 'system')
ON CONFLICT DO NOTHING;
