"""What a drill starts from: pilot files, captured fixtures, HAR imports, expectations."""
