"""What the browser gets: page assets, texts in Chinese and English, and the pages themselves."""
